# Cost-allocation tags and budgets come from config/cost_optimization.yaml (schema:
# mlops.config.CostOptimizationConfig), the same file the platform validates, so a tag is
# changed in one place for Terraform and for the platform's own cost reports.
locals {
  config_path = coalesce(var.config_path, "${path.module}/../../../../config/cost_optimization.yaml")
  config      = yamldecode(file(local.config_path))

  base_tags = merge(
    try(local.config.tags, {}),
    {
      "cost-center" = local.config.cost_center
      "owner"       = local.config.owner
    },
  )

  tags_by_environment = {
    for env in keys(local.config.budgets) : env => merge(local.base_tags, { "environment" = env })
  }

  # Defaults mirror CostOptimizationConfig.Budget / .Compute.
  budgets = {
    for env, budget in local.config.budgets : env => {
      monthly_usd       = budget.monthly_usd
      alert_at_fraction = try(budget.alert_at_fraction, 0.8)
    }
  }
  training_spot_instances = try(local.config.compute.training_spot_instances, true)
}
