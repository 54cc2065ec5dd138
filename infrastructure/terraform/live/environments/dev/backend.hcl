# State of the dev environment, in its own bucket (created once per account, see
# docs/platform/bootstrap.md).
bucket = "mlops-platform-tfstate-dev"
key    = "live/dev/terraform.tfstate"
region = "eu-west-1"
