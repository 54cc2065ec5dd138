variable "name" {
  description = "Cluster name (e.g. mlops-prod); also the prefix of its IAM roles and KMS alias."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the control-plane ENIs and the nodes."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the API endpoint from the internet; empty keeps the endpoint private (VPN/bastion)."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.public_access_cidrs, "0.0.0.0/0")
    error_message = "The API endpoint is never open to 0.0.0.0/0; list the operators' egress CIDRs."
  }
}

variable "admin_role_arns" {
  description = "IAM roles given cluster-admin through EKS access entries (the identity running Terraform is admin already)."
  type        = list(string)
  default     = []
}

variable "node_groups" {
  description = "Managed node groups. Training nodes carry a taint so only pipeline steps land there."
  type = map(object({
    instance_types = list(string)
    capacity_type  = optional(string, "ON_DEMAND")
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gb   = optional(number, 100)
    labels         = optional(map(string), {})
    taints = optional(list(object({
      key    = string
      value  = string
      effect = string
    })), [])
  }))

  validation {
    condition     = alltrue([for g in values(var.node_groups) : contains(["ON_DEMAND", "SPOT"], g.capacity_type)])
    error_message = "capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "log_retention_days" {
  description = "Retention of the control-plane logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Cost-allocation tags. Set explicitly on node launch templates: instances and volumes started by an Auto Scaling group do not get provider default_tags."
  type        = map(string)
}
