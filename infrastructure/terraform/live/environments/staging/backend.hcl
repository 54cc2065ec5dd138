# State of the staging environment, in its own bucket (created once per account, see
# docs/platform/bootstrap.md).
bucket = "mlops-platform-tfstate-staging"
key    = "live/staging/terraform.tfstate"
region = "eu-west-1"
