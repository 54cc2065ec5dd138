{{/* The compiled IR of a pipeline (files/pipelines/<name>.yaml), parsed. */}}
{{- define "pipelines.ir" -}}
{{- $text := .ctx.Files.Get (printf "files/pipelines/%s.yaml" .name) -}}
{{- if not $text -}}
{{- fail (printf "pipelines.%s: no compiled pipeline at files/pipelines/%s.yaml" .name .name) -}}
{{- end -}}
{{- $text -}}
{{- end -}}

{{/* <pipeline>-<appVersion>: PipelineVersion specs are immutable, so each release is a new one. */}}
{{- define "pipelines.versionName" -}}
{{- printf "%s-%s" .name (.ctx.Chart.AppVersion | lower | replace "+" "-") | trunc 253 -}}
{{- end -}}

{{/*
The schedules spec `mlops pipelines sync-schedules` reads (pipelines/schedules.py SchedulesSpec),
as JSON: each schedule names the pipeline and this release's PipelineVersion, and its parameters
as the values give them (strings through tpl), checked against the compiled pipeline's inputs.
The Job encodes each one by its input type.
*/}}
{{- define "pipelines.scheduleSpec" -}}
{{- $schedules := dict }}
{{- range $name, $s := .Values.schedules }}
{{- $where := printf "schedules.%s" $name }}
{{- $p := index $.Values.pipelines $s.pipeline | default dict }}
{{- if not $p.enabled }}
{{- fail (printf "%s.pipeline: %q is not an enabled entry of pipelines" $where $s.pipeline) }}
{{- end }}
{{- $ir := include "pipelines.ir" (dict "ctx" $ "name" $s.pipeline) | fromYaml }}
{{- $inputs := $ir.root.inputDefinitions.parameters }}
{{- $params := dict }}
{{- range $key, $value := $s.parameters | default dict }}
{{- $_ := set $params $key (ternary (tpl (toString $value) $) $value (kindIs "string" $value)) }}
{{- end }}
{{- if and (hasKey $inputs "platform_config") (not (hasKey $params "platform_config")) }}
{{- $_ := set $params "platform_config" ($.Files.Get (printf "files/platform-config/%s.json" $.Values.environment) | fromJson) }}
{{- end }}
{{- range $key, $_ := $params }}
{{- if not (hasKey $inputs $key) }}
{{- fail (printf "%s.parameters.%s: pipeline %s has no such input (inputs: %s)" $where $key $s.pipeline (keys $inputs | sortAlpha | join ", ")) }}
{{- end }}
{{- end }}
{{- range $key, $input := $inputs }}
{{- if and (not (hasKey $params $key)) (not (hasKey $input "defaultValue")) (not $input.isOptional) }}
{{- fail (printf "%s.parameters.%s: required by pipeline %s" $where $key $s.pipeline) }}
{{- end }}
{{- end }}
{{- $_ := set $schedules $name (dict
  "pipeline" $s.pipeline
  "pipeline_version" (include "pipelines.versionName" (dict "ctx" $ "name" $s.pipeline))
  "experiment" $s.experiment
  "cron" $s.cron
  "enabled" $s.enabled
  "max_concurrency" $s.maxConcurrency
  "no_catchup" $s.noCatchup
  "service_account" $.Values.kfp.serviceAccount
  "parameters" $params) }}
{{- end }}
{{- toPrettyJson (dict "namespace" .Values.kfp.namespace "schedules" $schedules) }}
{{- end -}}

{{/*
The service account and the default-deny policy of the chart's jobs (the retraining-triggers
CronJob and the schedule-sync Job; each job's template adds the egress it needs). Rendered once,
by retraining-triggers.yaml, or by schedules.yaml when the triggers are off. Ends with "---".
*/}}
{{- define "pipelines.jobsShared" -}}
{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "platform.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "platform.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# The pods get only a projected, audience-bound token for the KFP API.
automountServiceAccountToken: false {{- /* # pragma: allowlist secret */}}
---
{{- end }}
{{- if .Values.networkPolicy.enabled }}
{{ include "platform.defaultDenyPolicy" . }}
---
{{- end }}
{{- end -}}
