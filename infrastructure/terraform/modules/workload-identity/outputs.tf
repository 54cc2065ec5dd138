output "role_arns" {
  description = "Role ARN by workload, for the eks.amazonaws.com/role-arn service-account annotation."
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}
