variable "name" {
  description = "Name prefix (e.g. mlops-prod). Bucket names append the purpose and the account id, so they are globally unique."
  type        = string
}

variable "buckets" {
  description = <<-EOT
    Buckets by purpose (artifacts, backups). Lifecycle: current objects move to transition_storage_class
    after transition_days, expire after expiration_days (null keeps them), and superseded versions
    are deleted after noncurrent_expiration_days. object_lock_days (null: no lock) turns S3 Object
    Lock on at creation, with that default retention in governance mode for every new version.
  EOT
  type = map(object({
    transition_days            = number
    transition_storage_class   = string
    expiration_days            = optional(number)
    noncurrent_expiration_days = number
    object_lock_days           = optional(number)
  }))

  validation {
    condition     = alltrue([for b in values(var.buckets) : contains(["STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER"], b.transition_storage_class)])
    error_message = "transition_storage_class must be STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR or GLACIER."
  }

  validation {
    condition     = alltrue([for b in values(var.buckets) : b.expiration_days == null || try(b.expiration_days > b.transition_days, false)])
    error_message = "expiration_days must be later than transition_days (S3 rejects the lifecycle rule otherwise)."
  }

  validation {
    condition     = alltrue([for b in values(var.buckets) : b.object_lock_days == null || try(b.object_lock_days >= 1 && b.object_lock_days <= 3650 && floor(b.object_lock_days) == b.object_lock_days, false)])
    error_message = "object_lock_days must be a whole number of days from 1 to 3650, or null for no Object Lock."
  }

  validation {
    condition     = alltrue([for b in values(var.buckets) : b.object_lock_days == null || try(b.noncurrent_expiration_days >= b.object_lock_days, false)])
    error_message = "noncurrent_expiration_days must be at least object_lock_days: a locked version cannot expire earlier."
  }

  validation {
    condition     = alltrue([for b in values(var.buckets) : b.object_lock_days == null || b.expiration_days == null])
    error_message = "a bucket with object_lock_days keeps current objects (expiration_days = null): its writer deletes them (restic prune), the lock keeps the versions."
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
