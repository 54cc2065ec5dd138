# Vault configuration state of the prod environment: the bucket of live/environments/prod, its
# own key (a separate state, applied after Vault runs).
bucket = "mlops-platform-tfstate-prod"
key    = "live-vault/prod/terraform.tfstate"
region = "eu-west-1"
