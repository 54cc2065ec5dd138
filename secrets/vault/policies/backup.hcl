# Backup CronJobs: the backup encryption key and the database credentials they dump with.
# Read only: a backup job never changes a secret.
path "secret/data/mlops/+/backup" {
  capabilities = ["read"]
}

path "secret/data/mlops/+/registry" {
  capabilities = ["read"]
}

path "secret/data/mlops/+/feature-store" {
  capabilities = ["read"]
}

# The consent store's database (the consent-db target).
path "secret/data/mlops/+/consent" {
  capabilities = ["read"]
}
