variable "name" {
  description = "Name prefix (e.g. mlops-prod). Bucket names append the purpose and the account id, so they are globally unique."
  type        = string
}

variable "buckets" {
  description = <<-EOT
    Buckets by purpose (artifacts, backups). Lifecycle: current objects move to transition_storage_class
    after transition_days, expire after expiration_days (null keeps them), and superseded versions
    are deleted after noncurrent_expiration_days.
  EOT
  type = map(object({
    transition_days            = number
    transition_storage_class   = string
    expiration_days            = optional(number)
    noncurrent_expiration_days = number
  }))

  validation {
    condition     = alltrue([for b in values(var.buckets) : contains(["STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER"], b.transition_storage_class)])
    error_message = "transition_storage_class must be STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR or GLACIER."
  }

  validation {
    condition     = alltrue([for b in values(var.buckets) : b.expiration_days == null || try(b.expiration_days > b.transition_days, false)])
    error_message = "expiration_days must be later than transition_days (S3 rejects the lifecycle rule otherwise)."
  }
}

variable "access_log_retention_days" {
  description = "How long S3 server access logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Cost-allocation tags (also set as provider default_tags)."
  type        = map(string)
}
