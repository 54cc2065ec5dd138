{{/*
The backup strategies, from files/strategies/*.yaml (copies of backup/strategies/*.yaml, made by
`make chart-files`), checked for what the chart uses: a name equal to the file's, a five-field cron
schedule and a non-empty target list. backup/ validates the full schema; this keeps a broken copy
from rendering a CronJob that runs at the wrong time. Returns a YAML list, sorted by file name:
use with fromYamlArray.
*/}}
{{- define "backups.strategies" -}}
{{- $strategies := list }}
{{- range $path, $_ := .Files.Glob "files/strategies/*.yaml" }}
{{- $file := base $path }}
{{- $strategy := $.Files.Get $path | fromYaml }}
{{- if hasKey $strategy "Error" }}
{{- fail (printf "%s: not YAML: %s" $path $strategy.Error) }}
{{- end }}
{{- $name := trimSuffix ".yaml" $file }}
{{- if ne (toString $strategy.name) $name }}
{{- fail (printf "%s: name is %q, expected %q (the file's name)" $path (toString $strategy.name) $name) }}
{{- end }}
{{- if not (regexMatch "^[a-z][a-z0-9-]{0,30}$" $name) }}
{{- fail (printf "%s: name %q is not a lower-case DNS label of at most 31 characters" $path $name) }}
{{- end }}
{{- if has $name (list "verify" "prune" "retention") }}
{{- fail (printf "%s: name %q is taken by the chart's own %s CronJob" $path $name $name) }}
{{- end }}
{{- if not (regexMatch "^\\S+( \\S+){4}$" (toString $strategy.schedule)) }}
{{- fail (printf "%s: schedule %q is not a five-field cron expression" $path (toString $strategy.schedule)) }}
{{- end }}
{{- if not (kindIs "slice" $strategy.targets) }}
{{- fail (printf "%s: targets must be a non-empty list of target names" $path) }}
{{- end }}
{{- if not $strategy.targets }}
{{- fail (printf "%s: targets must be a non-empty list of target names" $path) }}
{{- end }}
{{- $strategies = append $strategies $strategy }}
{{- end }}
{{- if not $strategies }}
{{- fail "files/strategies/ holds no strategy: run `make chart-files`" }}
{{- end }}
{{- toYaml $strategies }}
{{- end -}}

{{/* The strategies this environment schedules (strategies.disabled left out); a YAML list. */}}
{{- define "backups.scheduledStrategies" -}}
{{- $all := include "backups.strategies" . | fromYamlArray }}
{{- $names := list }}
{{- range $all }}{{ $names = append $names .name }}{{ end }}
{{- range .Values.strategies.disabled }}
{{- if not (has . $names) }}
{{- fail (printf "strategies.disabled: no strategy named %q in files/strategies (there are %s)" . (join ", " $names)) }}
{{- end }}
{{- end }}
{{- $scheduled := list }}
{{- range $all }}
{{- if not (has .name $.Values.strategies.disabled) }}
{{- $scheduled = append $scheduled . }}
{{- end }}
{{- end }}
{{- toYaml $scheduled }}
{{- end -}}

{{/* The restic repository URL of the backups bucket. */}}
{{- define "backups.resticRepository" -}}
{{- $store := .Values.objectStore -}}
{{- $host := $store.endpoint | default (ternary "s3.amazonaws.com" (printf "s3.%s.amazonaws.com" $store.region) (empty $store.region)) -}}
{{- printf "s3:https://%s/%s/%s" $host (tpl $store.bucket .) $store.prefix -}}
{{- end -}}

{{/*
One CronJob of the chart: `run` (a shell command) in the platform image, after the Vault-rendered
env files are exported, with the backup key, the Redis password and the libpq password file
injected by the Vault agent. Arguments: dict "ctx" $ "component" <name suffix and label>
"schedule" <cron> "run" <shell command> "resources" <requests/limits>.
*/}}
{{- define "backups.cronJob" -}}
{{- $ := .ctx -}}
{{- $secrets := list (dict "name" "backup-encryption-key" "area" "backup") (dict "name" "feature-store.env" "area" "feature-store") -}}
{{- /* One libpq password file for every database, one line each (host:port:database:user:password). */ -}}
{{- $pgpassLine := $.Files.Get "files/vault/pgpass.ctmpl" -}}
{{- $pgpass := list -}}
{{- $pgpassArea := "" -}}
{{- range $db, $d := $.Values.databases -}}
{{- $pgpass = append $pgpass ($pgpassLine | replace "@ENVIRONMENT@" $.Values.environment | replace "@AREA@" $d.vault.area | replace "@HOST@" (tpl $d.host $) | replace "@PORT@" (toString $d.port) | replace "@DATABASE@" $db | replace "@USER@" $d.user | replace "@KEY@" $d.vault.key) -}}
{{- $pgpassArea = $pgpassArea | default $d.vault.area -}}
{{- end -}}
{{- $rendered := list -}}
{{- if $pgpass -}}
{{- $rendered = append $rendered (dict "name" "pgpass" "area" $pgpassArea "template" (join "" $pgpass)) -}}
{{- end -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ include "backups.cronJobName" (dict "ctx" $ "component" .component) }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "platform.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
  annotations:
    checkov.io/skip1: CKV_K8S_43=The image is pinned by its release tag, the chart appVersion (one version for package, image and chart); set image.digest to pin by digest.
spec:
  schedule: {{ .schedule | quote }}
  timeZone: {{ $.Values.schedule.timeZone }}
  concurrencyPolicy: {{ $.Values.schedule.concurrencyPolicy }}
  successfulJobsHistoryLimit: {{ $.Values.schedule.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ $.Values.schedule.failedJobsHistoryLimit }}
  jobTemplate:
    spec:
      activeDeadlineSeconds: {{ $.Values.schedule.activeDeadlineSeconds }}
      backoffLimit: {{ $.Values.schedule.backoffLimit }}
      template:
        metadata:
          labels:
            {{- include "platform.selectorLabels" $ | nindent 12 }}
            app.kubernetes.io/component: {{ .component }}
          annotations:
            {{- include "platform.vaultAnnotations" (dict "ctx" $ "role" $.Values.vault.role "secrets" $secrets "rendered" $rendered "job" true) | nindent 12 }}
        spec:
          restartPolicy: Never
          serviceAccountName: {{ include "platform.serviceAccountName" $ }}
          automountServiceAccountToken: false {{- /* # pragma: allowlist secret */}}
          securityContext:
            {{- include "platform.podSecurityContext" $ | nindent 12 }}
          containers:
            - name: {{ .component }}
              image: {{ include "platform.image" $ }}
              imagePullPolicy: {{ $.Values.image.pullPolicy }}
              command:
                {{- include "platform.envFileCommand" (dict "secrets" $secrets "run" .run "name" "mlops") | nindent 16 }}
              env:
                - name: MLOPS_ENV
                  value: {{ $.Values.environment | quote }}
                # restic's own variables: the repository, the key file and the cache on scratch.
                - name: RESTIC_REPOSITORY
                  value: {{ include "backups.resticRepository" $ | quote }}
                - name: RESTIC_PASSWORD_FILE
                  value: /vault/secrets/backup-encryption-key
                - name: RESTIC_CACHE_DIR
                  value: /tmp/restic-cache
                # The buckets' region (Terraform's unless objectStore.region says otherwise): S3
                # is reached with the pod's IRSA role through the default AWS chain, no key.
                {{- $region := $.Values.objectStore.region | default (include "platform.terraformValue" (dict "ctx" $ "key" "region")) }}
                - name: AWS_REGION
                  value: {{ $region | quote }}
                - name: AWS_DEFAULT_REGION
                  value: {{ $region | quote }}
                # MLflow's artifacts (the mlflow chart's --artifacts-destination), for the artifacts target.
                - name: MLOPS_ARTIFACTS_URI
                  value: {{ printf "s3://%s/%s" (include "platform.bucket" (dict "ctx" $ "name" $.Values.artifacts.bucket)) $.Values.artifacts.prefix | quote }}
                - name: PGPASSFILE
                  value: /vault/secrets/pgpass
                - name: PGSSLMODE
                  value: require
                - name: TMPDIR
                  value: /tmp
                {{- include "platform.vaultCaEnv" $ | nindent 16 }}
              resources:
                {{- toYaml .resources | nindent 16 }}
              securityContext:
                {{- include "platform.containerSecurityContext" $ | nindent 16 }}
              volumeMounts:
                - name: tmp
                  mountPath: /tmp
                # The platform state folder (state_dir of config/environments/<env>.yaml).
                - name: state
                  mountPath: {{ include "platform.stateDir" $ }}
                {{- include "platform.vaultCaVolumeMount" $ | nindent 16 }}
          volumes:
            # The root filesystem is read-only: dumps, restic's cache and HOME live here.
            - name: tmp
              emptyDir:
                sizeLimit: {{ $.Values.scratchSize }}
            - name: state
              emptyDir:
                sizeLimit: 1Gi
            {{- include "platform.vaultTokenVolume" $ | nindent 12 }}
            {{- include "platform.vaultCaVolume" $ | nindent 12 }}
{{- end -}}

{{/*
The name of the CronJob of `component` (a strategy, verify or prune): 52 characters at most, so
the Jobs it creates (name + 11-character suffix) stay valid. Also what the alerts select on.
Arguments: dict "ctx" $ "component" <name>.
*/}}
{{- define "backups.cronJobName" -}}
{{- printf "%s-%s" (include "platform.fullname" .ctx) .component | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* The name of the Probe of `target` (a key of probes.targets, kebab-cased). Arguments: dict "ctx" $ "target" <key>. */}}
{{- define "backups.probeName" -}}
{{- printf "%s-%s" (include "platform.fullname" .ctx) (kebabcase .target) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
