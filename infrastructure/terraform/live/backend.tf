# Partial configuration: bucket, key and region come from environments/<env>/backend.hcl at
#   terraform init -reconfigure -backend-config=environments/<env>/backend.hcl
# Each environment keeps its state in its own bucket and key rather than in workspaces of one
# state, so an operator's credentials for one environment cannot read or lock another's.
# Encryption and S3-native locking (use_lockfile, no DynamoDB table) hold for every environment.
terraform {
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
