# State of the staging environment, in its own bucket (created once per account, see
# docs/platform/bootstrap.md). S3-native locking (use_lockfile) replaces the DynamoDB lock table.
terraform {
  backend "s3" {
    bucket       = "mlops-platform-tfstate-staging"
    key          = "live/staging/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
