# Vault configuration state of the staging environment: the bucket of live/environments/staging, its
# own key (a separate state, applied after Vault runs).
bucket = "mlops-platform-tfstate-staging"
key    = "live-vault/staging/terraform.tfstate"
region = "eu-west-1"
