# Vault configuration state of the dev environment: the bucket of live/environments/dev, its
# own key (a separate state, applied after Vault runs).
bucket = "mlops-platform-tfstate-dev"
key    = "live-vault/dev/terraform.tfstate"
region = "eu-west-1"
