# Feast materialisation CronJob and the optional feature server: the store connections only.
path "secret/data/mlops/+/feature-store" {
  capabilities = ["read"]
}
