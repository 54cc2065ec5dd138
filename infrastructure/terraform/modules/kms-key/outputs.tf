output "arn" {
  description = "Key ARN."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "Key ID."
  value       = aws_kms_key.this.key_id
}

output "alias_name" {
  description = "Alias, with the alias/ prefix."
  value       = aws_kms_alias.this.name
}
