# One environment: network, EKS, buckets, registry database and workload identities (IRSA). Vault
# is configured by its own root, live-vault/, once Vault runs in the cluster this builds: a
# provider for a service that does not exist yet would fail the first plan. live/ calls this
# module with a handful of sizing variables per environment, so every environment is built by
# the same code.
locals {
  name = "mlops-${var.environment}"

  # The workload identities shared with live-vault/ (modules/workloads).
  workloads = module.workloads.workloads

  artifacts_arn = module.object_storage.bucket_arns["artifacts"]
  backups_arn   = module.object_storage.bucket_arns["backups"]
  bucket_key    = module.object_storage.kms_key_arn

  # S3 permissions per workload; a workload absent here (the feature store keeps its data in
  # PostgreSQL and Redis) has no AWS access at all.
  s3_access = {
    "training-pipeline" = [
      { actions = ["s3:ListBucket"], resources = [local.artifacts_arn] },
      { actions = ["s3:GetObject", "s3:PutObject"], resources = ["${local.artifacts_arn}/*"] },
    ]
    "serving" = [
      { actions = ["s3:ListBucket"], resources = [local.artifacts_arn] },
      { actions = ["s3:GetObject"], resources = ["${local.artifacts_arn}/*"] },
    ]
    # The tracking server proxies every artifact (--serve-artifacts) under artifacts/mlflow/;
    # deleting a run's artifacts (mlflow gc) needs DeleteObject there.
    "mlflow" = [
      { actions = ["s3:ListBucket"], resources = [local.artifacts_arn] },
      { actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = ["${local.artifacts_arn}/mlflow/*"] },
    ]
    # Backups read the artifacts and write the restic repository. restic deletes its lock files
    # and, on prune, unused packs: in the versioned, Object Lock bucket a delete only adds a
    # delete marker, and without s3:DeleteObjectVersion or s3:BypassGovernanceRetention a
    # compromised job cannot erase a locked version.
    "backup" = [
      { actions = ["s3:ListBucket"], resources = [local.artifacts_arn, local.backups_arn] },
      { actions = ["s3:GetObject"], resources = ["${local.artifacts_arn}/*"] },
      { actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = ["${local.backups_arn}/*"] },
    ]
  }

  irsa = {
    for name, statements in local.s3_access : name => {
      namespace       = local.workloads[name].namespace
      service_account = local.workloads[name].service_account
      policy_json = jsonencode({
        Version = "2012-10-17"
        Statement = concat(
          [for s in statements : { Effect = "Allow", Action = s.actions, Resource = s.resources }],
          [{
            Effect   = "Allow"
            Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
            Resource = [local.bucket_key]
          }],
        )
      })
    }
  }
}

module "workloads" {
  source = "../workloads"

  environment   = var.environment
  kfp_namespace = var.kfp_namespace
}

module "network" {
  source = "../network"

  name                    = local.name
  cidr_block              = var.vpc_cidr
  availability_zone_count = var.availability_zone_count
  single_nat_gateway      = var.single_nat_gateway
  cluster_name            = local.name
  tags                    = var.tags
}

module "kubernetes_cluster" {
  source = "../kubernetes-cluster"

  name                = local.name
  kubernetes_version  = var.kubernetes_version
  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.private_subnet_ids
  public_access_cidrs = var.cluster_public_access_cidrs
  admin_role_arns     = var.cluster_admin_role_arns
  tags                = var.tags

  node_groups = {
    system = {
      instance_types = var.system_node_instance_types
      min_size       = var.system_node_count.min
      max_size       = var.system_node_count.max
      desired_size   = var.system_node_count.min
    }
    training = {
      instance_types = var.training_node_instance_types
      capacity_type  = var.training_spot_instances ? "SPOT" : "ON_DEMAND"
      min_size       = 0
      max_size       = var.training_node_max
      desired_size   = 0
      labels         = { "mlops-platform/workload" = "training" }
      taints         = [{ key = "mlops-platform/workload", value = "training", effect = "NO_SCHEDULE" }]
    }
  }
}

module "object_storage" {
  source = "../object-storage"

  name = local.name
  tags = var.tags

  buckets = {
    # Model artifacts, Feast offline data, run outputs: read often while recent.
    artifacts = {
      transition_days            = 30
      transition_storage_class   = "INTELLIGENT_TIERING"
      noncurrent_expiration_days = 90
    }
    # The restic repository of `mlops backup`. Retention is restic's (`mlops backup prune`
    # applies each strategy's): a pack file is shared by every snapshot that deduplicates into
    # it, so expiring objects by age would break newer snapshots. Intelligent-Tiering has no
    # retrieval fee, and `mlops backup verify` re-reads every pack daily. A pruned or
    # overwritten version stays, locked, for backup_object_lock_days, then a week more.
    backups = {
      transition_days            = 30
      transition_storage_class   = "INTELLIGENT_TIERING"
      noncurrent_expiration_days = var.backup_object_lock_days + 7
      object_lock_days           = var.backup_object_lock_days
    }
  }
}

# One instance for the registries: MLflow's database is created with it, Feast's
# (feast_registry, feast_offline) at bootstrap.
module "postgres" {
  source = "../postgres"

  identifier              = "${local.name}-registry"
  instance_class          = var.db_instance_class
  multi_az                = var.db_multi_az
  backup_retention_days   = var.db_backup_retention_days
  vpc_id                  = module.network.vpc_id
  subnet_ids              = module.network.private_subnet_ids
  allowed_security_groups = { eks-cluster = module.kubernetes_cluster.cluster_security_group_id }
  tags                    = var.tags
}

module "workload_identity" {
  source = "../workload-identity"

  name              = local.name
  oidc_provider_arn = module.kubernetes_cluster.oidc_provider_arn
  oidc_issuer       = module.kubernetes_cluster.oidc_issuer
  tags              = var.tags

  workloads = merge(local.irsa, {
    # Vault's seal: auto-unseal with the KMS key below instead of operators holding key shares.
    vault = {
      namespace       = "vault"
      service_account = "vault"
      policy_json = jsonencode({
        Version = "2012-10-17"
        Statement = [{
          Effect   = "Allow"
          Action   = ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"]
          Resource = [module.vault_unseal_key.arn]
        }]
      })
    }
  })
}

# Vault's awskms seal key; only Vault's IRSA role is granted its use.
module "vault_unseal_key" {
  source = "../kms-key"

  alias       = "${local.name}-vault-unseal"
  description = "${local.name} Vault auto-unseal"
  tags        = var.tags
}

# Spend of everything carrying this environment's tag; the tag must be activated as a
# cost-allocation tag in the billing console once per account.
resource "aws_budgets_budget" "monthly" {
  count = var.budget == null ? 0 : 1

  name         = "${local.name}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.budget.monthly_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:environment$%s", var.environment)]
  }

  dynamic "notification" {
    for_each = length(var.budget_alert_emails) > 0 ? { ACTUAL = var.budget.alert_at_fraction * 100, FORECASTED = 100 } : {}

    content {
      comparison_operator        = "GREATER_THAN"
      notification_type          = notification.key
      threshold                  = notification.value
      threshold_type             = "PERCENTAGE"
      subscriber_email_addresses = var.budget_alert_emails
    }
  }

  tags = var.tags
}
