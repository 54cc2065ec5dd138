# `terraform test` in this directory: plans only, no provider, no credentials.

run "identities" {
  command = plan

  variables {
    environment = "staging"
  }

  assert {
    condition     = output.app_namespace == "mlops-staging"
    error_message = "the workloads' namespace must be mlops-<environment>"
  }

  assert {
    condition     = output.workloads["serving"].namespace == "mlops-staging" && output.workloads["serving"].audience == "vault"
    error_message = "serving logs in to Vault from mlops-<environment> with a projected token for \"vault\""
  }

  assert {
    condition     = output.workloads["training-pipeline"].namespace == "kubeflow" && output.workloads["training-pipeline"].service_account == "pipeline-runner"
    error_message = "pipeline steps run as KFP's pipeline-runner in its namespace"
  }

  assert {
    condition     = output.workloads["mlflow"].namespace == "mlops-staging" && output.workloads["mlflow"].service_account == "mlflow"
    error_message = "the MLflow tracking server runs as service account mlflow in mlops-<environment> (its chart's release name)"
  }

  assert {
    condition     = output.workloads["training-pipeline"].audience == null
    error_message = "pipeline steps log in with the pod's default token (no audience)"
  }
}
