# Vault Agent for the training pipeline's pods (run as an init container with
# exit_after_auth, or as a sidecar without it). It logs in with the pod's service account and
# renders the secrets to files the platform reads through file:// references.
auto_auth {
  method "kubernetes" {
    mount_path = "auth/kubernetes"
    config = {
      role = "training-pipeline"
    }
  }

  sink "file" {
    config = {
      path = "/vault/token"
      mode = 0400
    }
  }
}

template_config {
  exit_on_retry_failure = true
}

template {
  source      = "/vault/templates/pii-hash-key.ctmpl"
  destination = "/vault/secrets/pii-hash-key"
  perms       = "0400"
}

template {
  source      = "/vault/templates/feature-store.env.ctmpl"
  destination = "/vault/secrets/feature-store.env"
  perms       = "0400"
}
