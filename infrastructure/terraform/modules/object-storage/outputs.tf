output "bucket_names" {
  description = "Bucket name by purpose."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.bucket }
}

output "bucket_arns" {
  description = "Bucket ARN by purpose."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.arn }
}

output "object_lock_days" {
  description = "Default Object Lock retention (governance mode) by purpose, for the locked buckets."
  value       = { for purpose, lock in aws_s3_bucket_object_lock_configuration.this : purpose => lock.rule[0].default_retention[0].days }
}

output "kms_key_arn" {
  description = "Customer-managed key encrypting the data buckets (workload roles need kms:Decrypt/GenerateDataKey on it)."
  value       = module.key.arn
}

output "access_log_bucket" {
  description = "Bucket receiving S3 server access logs."
  value       = aws_s3_bucket.logs.bucket
}
