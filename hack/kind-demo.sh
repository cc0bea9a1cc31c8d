#!/usr/bin/env bash
# phi-guard on a throwaway kind cluster: cert-manager, phi-guard (cert-manager overlay), then one
# denied and one mutated pod. Needs docker, kind (0.23 or newer: Kubernetes 1.30+) and kubectl.
# Remove it all with: kind delete cluster --name phi-guard-demo
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=phi-guard-demo
IMAGE=ghcr.io/phi-guard/phi-guard:0.1.0
CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.16.3}
PAUSE=registry.k8s.io/pause:3.10

step() { printf '\n== %s\n' "$*"; }

step "Cluster and image"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "cert-manager $CERT_MANAGER_VERSION"
kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml"
kubectl -n cert-manager wait deployment --all --for=condition=Available --timeout=180s

step "phi-guard"
kubectl apply -k manifests/overlays/cert-manager
kubectl -n phi-guard rollout status deployment/phi-guard --timeout=180s
for _ in $(seq 60); do
  ca=$(kubectl get validatingwebhookconfiguration phi-guard -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
  [ -n "$ca" ] && break
  sleep 2
done
[ -n "$ca" ] || { echo "cert-manager did not inject caBundle in time" >&2; exit 1; }

# GNU sed: "0,/re/" edits the first match only.
step "Move pod-security from audit to enforce (the first policy in config.yaml), live"
kubectl -n phi-guard get configmap phi-guard-config -o jsonpath='{.data.config\.yaml}' |
  sed '0,/mode: audit/s//mode: enforce/' >/tmp/phi-guard-config.yaml
kubectl -n phi-guard create configmap phi-guard-config --from-file=config.yaml=/tmp/phi-guard-config.yaml \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -

# The kubelet refreshes mounted ConfigMaps within about a minute; phi-guard then reloads.
echo "waiting for the new config to reach the pods..."
for _ in $(seq 60); do
  out=$(kubectl -n demo run probe --image="$PAUSE" --privileged --dry-run=server -o name 2>&1 || true)
  grep -q '\[pod-security\]' <<<"$out" && break
  sleep 3
done

step "Denied: a privileged pod"
kubectl -n demo run root-shell --image="$PAUSE" --privileged || true

step "Mutated: a pod with no securityContext gets phi-guard's defaults"
kubectl -n demo delete pod plain --ignore-not-found
kubectl -n demo run plain --image="$PAUSE"
kubectl -n demo get pod plain -o jsonpath='pod:       {.spec.securityContext}{"\n"}container: {.spec.containers[0].securityContext}{"\n"}'

step "Done. Decision records: kubectl -n phi-guard logs deploy/phi-guard | grep 'admission decision'"
