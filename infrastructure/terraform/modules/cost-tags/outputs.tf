output "tags" {
  description = "Cost-allocation tags for var.environment: the configured tags, cost-center, owner and environment."
  value       = local.tags_by_environment[var.environment]

  precondition {
    condition     = contains(keys(local.config.budgets), var.environment)
    error_message = "Environment ${var.environment} has no budget in ${local.config_path}; add budgets.${var.environment} first."
  }
}

output "tags_by_environment" {
  description = "The tag map of every environment that has a budget."
  value       = local.tags_by_environment
}

output "budget" {
  description = "Monthly budget (USD) and alert threshold (fraction of the budget) for var.environment."
  value       = lookup(local.budgets, var.environment, null)
}

output "training_spot_instances" {
  description = "Whether training nodes run on spot capacity (compute.training_spot_instances)."
  value       = local.training_spot_instances
}
