output "bucket_names" {
  description = "Bucket name by purpose."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.bucket }
}

output "bucket_arns" {
  description = "Bucket ARN by purpose."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.arn }
}

output "kms_key_arn" {
  description = "Customer-managed key encrypting the data buckets (workload roles need kms:Decrypt/GenerateDataKey on it)."
  value       = module.key.arn
}

output "access_log_bucket" {
  description = "Bucket receiving S3 server access logs."
  value       = aws_s3_bucket.logs.bucket
}
