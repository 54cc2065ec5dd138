variable "environment" {
  description = "Environment name; selects the cost tags and budget."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "vpc_cidr" {
  description = "VPC CIDR (distinct per environment so networks can be peered later)."
  type        = string
}

variable "availability_zone_count" {
  description = "Availability zones spanned."
  type        = number
}

variable "single_nat_gateway" {
  description = "Share one NAT gateway between zones."
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
  description = "IAM roles with cluster-admin access."
  type        = list(string)
  default     = []
}

variable "system_node_instance_types" {
  description = "Instance types of the always-on node group."
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
  description = "Instance types of the training node group."
  type        = list(string)
}

variable "training_node_max" {
  description = "Upper bound of the training node group."
  type        = number
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_multi_az" {
  description = "Multi-AZ registry database."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "Registry database point-in-time recovery window."
  type        = number
}

variable "backup_object_lock_days" {
  description = "Object Lock retention (days, governance mode) of every object written to the backups bucket."
  type        = number
}

variable "budget_alert_emails" {
  description = "Recipients of budget alerts."
  type        = list(string)
  default     = []
}
