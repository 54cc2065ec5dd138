variable "identifier" {
  description = "RDS instance identifier (e.g. mlops-prod-registry)."
  type        = string
}

variable "database_name" {
  description = "Database created with the instance (MLflow's registry). Feast's databases are created at bootstrap on the same instance."
  type        = string
  default     = "mlflow"
}

variable "master_username" {
  description = "Administrative user. Its password is generated and kept by RDS in Secrets Manager, never in Terraform."
  type        = string
  default     = "mlops_admin"
}

variable "engine_version" {
  description = "PostgreSQL major version; minor upgrades are applied in the maintenance window."
  type        = string
  default     = "17"
}

variable "instance_class" {
  description = "Instance class."
  type        = string
}

variable "allocated_storage_gb" {
  description = "Initial storage; grows automatically up to max_allocated_storage_gb."
  type        = number
  default     = 20
}

variable "max_allocated_storage_gb" {
  description = "Upper bound of storage autoscaling."
  type        = number
  default     = 200
}

variable "multi_az" {
  description = "Synchronous standby in a second zone (production)."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}

variable "deletion_protection" {
  description = "Refuse deletion through the API; turn off deliberately before tearing an environment down."
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "VPC of the instance."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (at least two zones)."
  type        = list(string)
}

variable "allowed_security_groups" {
  description = "Security groups allowed to connect on 5432, by a fixed label (ids are only known after apply, labels key the rules)."
  type        = map(string)
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Cost-allocation tags (also set as provider default_tags)."
  type        = map(string)
}
