# The rotation identity (`mlops secrets rotate` / `mlops secrets audit`, run by an operator or
# a CronJob): writes new versions of the platform's KV secrets and reads their metadata.
# It cannot delete or destroy versions, so a bad rotation is undone by reading the old one.
path "secret/data/mlops/*" {
  capabilities = ["create", "read", "update"]
}

path "secret/metadata/mlops/*" {
  capabilities = ["read", "list"]
}
