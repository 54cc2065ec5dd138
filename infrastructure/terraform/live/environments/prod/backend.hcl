# State of the prod environment, in its own bucket (created once per account, see
# docs/platform/bootstrap.md).
bucket = "mlops-platform-tfstate-prod"
key    = "live/prod/terraform.tfstate"
region = "eu-west-1"
