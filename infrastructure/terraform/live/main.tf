# The composition of every environment: dev, staging and prod run this same code and differ only
# in environments/<env>/backend.hcl (where the state lives) and environments/<env>/terraform.tfvars
# (a few sizing values). Vault is not configured here: it runs inside the cluster this root
# builds, so its configuration is the second root, live-vault/, applied once Vault is up (a
# vault provider in this root would fail the first plan, before Vault exists).
provider "aws" {
  region = var.region

  # Every AWS resource gets the cost-allocation tags of config/cost_optimization.yaml.
  default_tags {
    tags = module.cost_tags.tags
  }
}

module "cost_tags" {
  source = "../modules/cost-tags"

  environment = var.environment
}

module "platform" {
  source = "../modules/platform"

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
  backup_object_lock_days      = var.backup_object_lock_days
}

