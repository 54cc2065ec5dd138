variable "name" {
  description = "Name prefix of every resource (e.g. mlops-prod)."
  type        = string
}

variable "cidr_block" {
  description = "VPC CIDR; split into one public and one private subnet per availability zone."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be a valid IPv4 CIDR of /20 or larger."
  }
}

variable "availability_zone_count" {
  description = "How many availability zones to span (EKS and multi-AZ RDS need at least 2)."
  type        = number
  default     = 3

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 3
    error_message = "availability_zone_count must be 2 or 3 (the private subnets use three quarters of the VPC)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper; egress stops if its zone fails) instead of one per zone."
  type        = bool
  default     = false
}

variable "cluster_name" {
  description = "EKS cluster name, tagged on subnets so load balancers find them."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Retention of VPC flow logs in CloudWatch."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Cost-allocation tags (also set as provider default_tags)."
  type        = map(string)
}
