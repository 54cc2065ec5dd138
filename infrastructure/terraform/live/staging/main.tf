# One environment's composition. Identical in every live/<env>: environments differ only in
# backend.tf (where the state lives) and terraform.tfvars (a few sizing values).
terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    vault = {
      source  = "hashicorp/vault"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region

  # Every AWS resource gets the cost-allocation tags of config/cost_optimization.yaml.
  default_tags {
    tags = module.cost_tags.tags
  }
}

# Address and token come from VAULT_ADDR / VAULT_TOKEN (an operator's short-lived token through
# a port-forward to the environment's Vault); nothing about Vault access is stored here.
provider "vault" {}

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

variable "backup_retention_days" {
  description = "Retention of the backups bucket."
  type        = number
}

variable "budget_alert_emails" {
  description = "Recipients of budget alerts."
  type        = list(string)
  default     = []
}

variable "configure_vault" {
  description = "False for the first apply, before Vault runs in the new cluster."
  type        = bool
  default     = true
}

module "cost_tags" {
  source = "../../modules/cost-tags"

  environment = var.environment
}

module "platform" {
  source = "../../modules/platform"

  environment             = var.environment
  tags                    = module.cost_tags.tags
  budget                  = module.cost_tags.budget
  budget_alert_emails     = var.budget_alert_emails
  training_spot_instances = module.cost_tags.training_spot_instances

  vpc_cidr                     = var.vpc_cidr
  availability_zone_count      = var.availability_zone_count
  single_nat_gateway           = var.single_nat_gateway
  kubernetes_version           = var.kubernetes_version
  cluster_public_access_cidrs  = var.cluster_public_access_cidrs
  cluster_admin_role_arns      = var.cluster_admin_role_arns
  system_node_instance_types   = var.system_node_instance_types
  system_node_count            = var.system_node_count
  training_node_instance_types = var.training_node_instance_types
  training_node_max            = var.training_node_max
  db_instance_class            = var.db_instance_class
  db_multi_az                  = var.db_multi_az
  db_backup_retention_days     = var.db_backup_retention_days
  backup_retention_days        = var.backup_retention_days
  configure_vault              = var.configure_vault
}

output "cluster_name" {
  description = "EKS cluster (register it in Argo CD under this name)."
  value       = module.platform.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.platform.cluster_endpoint
}

output "bucket_names" {
  description = "Artifacts and backups buckets."
  value       = module.platform.bucket_names
}

output "registry_db_address" {
  description = "Registry PostgreSQL host."
  value       = module.platform.registry_db_address
}

output "registry_db_master_secret_arn" {
  description = "Secrets Manager secret of the database administrator password."
  value       = module.platform.registry_db_master_secret_arn
}

output "workload_role_arns" {
  description = "IRSA role per workload."
  value       = module.platform.workload_role_arns
}

output "vault_unseal_kms_key_id" {
  description = "KMS key for Vault's awskms seal."
  value       = module.platform.vault_unseal_kms_key_id
}

output "vault_roles" {
  description = "Vault Kubernetes auth roles and their policies."
  value       = module.platform.vault_roles
}
