variable "environment" {
  description = "Environment name: dev, staging, prod (or a new one, see docs/platform/adding-an-environment.md)."
  type        = string
}

variable "tags" {
  description = "Cost-allocation tags from the cost-tags module."
  type        = map(string)
}

variable "budget" {
  description = "Monthly budget from the cost-tags module (null: no budget)."
  type = object({
    monthly_usd       = number
    alert_at_fraction = number
  })
}

variable "budget_alert_emails" {
  description = "Who is mailed when spend crosses the alert fraction, or the forecast exceeds the budget."
  type        = list(string)
  default     = []
}

variable "vpc_cidr" {
  description = "VPC CIDR of the environment."
  type        = string
}

variable "availability_zone_count" {
  description = "Availability zones the network spans."
  type        = number
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (non-production) instead of one per zone."
  type        = bool
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
}

variable "cluster_public_access_cidrs" {
  description = "Operator CIDRs allowed to the public API endpoint; empty keeps it private."
  type        = list(string)
  default     = []
}

variable "cluster_admin_role_arns" {
  description = "IAM roles with cluster-admin access (e.g. the platform team's SSO role)."
  type        = list(string)
  default     = []
}

variable "system_node_instance_types" {
  description = "Instance types of the always-on node group (serving, feature store, Vault, Argo CD)."
  type        = list(string)
}

variable "system_node_count" {
  description = "Size bounds of the always-on node group."
  type = object({
    min = number
    max = number
  })
}

variable "training_node_instance_types" {
  description = "Instance types of the training node group (scales from zero)."
  type        = list(string)
}

variable "training_node_max" {
  description = "Upper bound of the training node group."
  type        = number
}

variable "training_spot_instances" {
  description = "Run training nodes on spot capacity (from the cost config)."
  type        = bool
}

variable "db_instance_class" {
  description = "RDS instance class of the registry database."
  type        = string
}

variable "db_multi_az" {
  description = "Multi-AZ standby for the registry database."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "Point-in-time recovery window of the registry database."
  type        = number
}

variable "backup_object_lock_days" {
  description = "Object Lock default retention (governance mode) of the backups bucket: how long no backup object can be deleted or overwritten."
  type        = number

  validation {
    condition     = var.backup_object_lock_days >= 1 && var.backup_object_lock_days <= 3650 && floor(var.backup_object_lock_days) == var.backup_object_lock_days
    error_message = "backup_object_lock_days must be a whole number of days from 1 to 3650."
  }
}

variable "kfp_namespace" {
  description = "Namespace where Kubeflow Pipelines runs pipeline steps (single-user mode: kubeflow)."
  type        = string
  default     = "kubeflow"
}
