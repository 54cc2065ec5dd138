{{/* Environment the Feast config's ${VARIABLES} read (passwords come from the Vault env files). */}}
{{- define "feast.env" -}}
- name: MLOPS_ENV
  value: {{ .Values.environment | quote }}
- name: REDIS_CONNECTION
  value: {{ .Values.feast.redisConnection | quote }}
{{ include "platform.feastPostgresEnv" . }}
- name: FEAST_STATE_DIR
  value: /tmp/feast-state
{{ include "platform.vaultCaEnv" . }}
{{- end -}}

{{/*
Init container writing /etc/feast/feature_store.yaml from the templates in the image
(feature_store.registry), so the config has one source; ${VARIABLES} stay in the file and Feast
expands them from the environment when it loads it.
*/}}
{{- define "feast.configInitContainer" -}}
- name: feast-config
  image: {{ include "platform.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["python", "-c"]
  args:
    - |
      import pathlib, sys
      from feature_store.registry import feature_store_yaml
      pathlib.Path("/etc/feast/feature_store.yaml").write_text(feature_store_yaml(sys.argv[1]))
    - {{ .Values.environment | quote }}
  resources:
    requests: {cpu: 50m, memory: 128Mi}
    limits: {cpu: 200m, memory: 256Mi}
  securityContext:
    {{- include "platform.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: feast-config
      mountPath: /etc/feast
{{- end -}}

{{- define "feast.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
- name: feast-config
  emptyDir:
    sizeLimit: 1Mi
{{ include "platform.vaultTokenVolume" . }}
{{ include "platform.vaultCaVolume" . }}
{{- end -}}

{{- define "feast.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: feast-config
  mountPath: /etc/feast
  readOnly: true
{{ include "platform.vaultCaVolumeMount" . }}
{{- end -}}
