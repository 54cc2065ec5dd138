# Partial configuration, as in live/backend.tf: the environment's own state bucket, under its own
# key, from environments/<env>/backend.hcl at
#   terraform init -reconfigure -backend-config=environments/<env>/backend.hcl
terraform {
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
