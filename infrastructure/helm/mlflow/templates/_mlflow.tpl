{{/*
The Vault agent template of /vault/secrets/mlflow.env: files/vault/mlflow.env.ctmpl with the
database (Terraform's host and port, database.*) written in, so the backend store URI, password
included, exists only in the pod's memory-backed secrets volume and the server's environment.
*/}}
{{- define "mlflow.envTemplate" -}}
{{- $d := .Values.database -}}
{{- .Files.Get "files/vault/mlflow.env.ctmpl"
  | replace "@ENVIRONMENT@" .Values.environment
  | replace "@AREA@" $d.vault.area
  | replace "@KEY@" $d.vault.key
  | replace "@USER@" $d.user
  | replace "@HOST@" (include "platform.postgresHost" .)
  | replace "@PORT@" (include "platform.postgresPort" .)
  | replace "@DATABASE@" $d.name
  | replace "@SSLMODE@" $d.sslmode -}}
{{- end -}}

{{/* Host headers the server answers (MLflow rejects others: DNS-rebinding protection). */}}
{{- define "mlflow.allowedHosts" -}}
{{- $name := include "platform.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- join "," (list $name (printf "%s:*" $name) (printf "%s.%s" $name $ns) (printf "%s.%s:*" $name $ns) (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc:*" $name $ns) (printf "%s.%s.svc.cluster.local" $name $ns) (printf "%s.%s.svc.cluster.local:*" $name $ns) "localhost:*" "127.0.0.1:*") -}}
{{- end -}}
