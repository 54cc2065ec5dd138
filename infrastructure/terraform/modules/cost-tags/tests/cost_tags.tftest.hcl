# `terraform test` in this directory: plans only, no provider, no credentials.

run "repository_config" {
  command = plan

  variables {
    environment = "prod"
  }

  assert {
    condition = output.tags == {
      "project"     = "mlops-platform"
      "managed-by"  = "terraform"
      "cost-center" = "ml-platform"
      "owner"       = "platform-team"
      "environment" = "prod"
    }
    error_message = "prod tags do not match config/cost_optimization.yaml: ${jsonencode(output.tags)}"
  }

  assert {
    condition     = toset(keys(output.tags_by_environment)) == toset(["dev", "staging", "prod"])
    error_message = "every environment with a budget must get a tag map"
  }

  assert {
    condition     = output.budget.monthly_usd == 6000 && output.budget.alert_at_fraction == 0.7
    error_message = "prod budget not read from the config"
  }
}

run "defaults_and_other_file" {
  command = plan

  variables {
    environment = "qa"
    config_path = "tests/fixtures/cost_optimization.yaml"
  }

  assert {
    condition     = output.tags["cost-center"] == "research" && output.tags["environment"] == "qa"
    error_message = "tags not read from config_path"
  }

  assert {
    condition     = output.budget.alert_at_fraction == 0.8
    error_message = "alert_at_fraction must default to 0.8 like the platform's schema"
  }

  assert {
    condition     = output.training_spot_instances == false
    error_message = "compute.training_spot_instances not read"
  }
}

run "environment_without_budget" {
  command = plan

  variables {
    environment = "sandbox"
  }

  expect_failures = [output.tags]
}

run "invalid_environment_name" {
  command = plan

  variables {
    environment = "Prod Env"
  }

  expect_failures = [var.environment]
}
