{{- define "switchboard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "switchboard.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "switchboard.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "switchboard.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "switchboard.prefix" -}}
{{- $redis := .Values.config.redis | default dict -}}
{{- $redis.prefix | default "switchboard" -}}
{{- end -}}

{{/* Environment shared by every pod: Redis (URL assembled from the password Secret) and secrets. */}}
{{- define "switchboard.env" -}}
- name: SWITCHBOARD_CONFIG
  value: /etc/switchboard/switchboard.yaml
- name: REDIS_ADDRESS
  value: {{ printf "%s:%v" .Values.redis.host .Values.redis.port | quote }}
{{- if .Values.redis.existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.passwordKey }}
{{- end }}
{{- if .Values.redis.sentinel.enabled }}
- name: REDIS_SENTINELS
  value: {{ join "," .Values.redis.sentinel.hosts | quote }}
- name: REDIS_SENTINEL_MASTER
  value: {{ .Values.redis.sentinel.masterName | quote }}
- name: REDIS_DB
  value: {{ .Values.redis.db | quote }}
{{- else if .Values.redis.existingSecret }}
- name: REDIS_URL
  value: {{ printf "%s://:$(REDIS_PASSWORD)@%s:%v/%v" (ternary "rediss" "redis" .Values.redis.tls) .Values.redis.host .Values.redis.port .Values.redis.db | quote }}
{{- else }}
- name: REDIS_URL
  value: {{ printf "%s://%s:%v/%v" (ternary "rediss" "redis" .Values.redis.tls) .Values.redis.host .Values.redis.port .Values.redis.db | quote }}
{{- end }}
{{- range .Values.secrets.env }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- end -}}

{{- define "switchboard.envFrom" -}}
{{- if .Values.secrets.existingSecret }}
envFrom:
  - secretRef:
      name: {{ .Values.secrets.existingSecret }}
{{- end }}
{{- end -}}

{{- define "switchboard.volumes" -}}
volumes:
  - name: config
    configMap:
      name: {{ include "switchboard.fullname" . }}
  - name: tmp
    emptyDir: {}
{{- with .Values.extraVolumes }}
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "switchboard.volumeMounts" -}}
volumeMounts:
  - name: config
    mountPath: /etc/switchboard
    readOnly: true
  - name: tmp
    mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The queue of every function and route a worker group runs (all of them when it names none). */}}
{{- define "switchboard.queues" -}}
{{- $group := .group -}}
{{- $config := .root.Values.config -}}
{{- $queues := list -}}
{{- range ($config.functions | default list) -}}
{{- if or (empty $group.functions) (has .name $group.functions) -}}{{- $queues = append $queues (printf "fn.%s" .name) -}}{{- end -}}
{{- end -}}
{{- range ($config.routes | default list) -}}
{{- if or (empty $group.functions) (has .name $group.functions) -}}{{- $queues = append $queues (printf "route.%s" .name) -}}{{- end -}}
{{- end -}}
{{- join "," $queues -}}
{{- end -}}
