#!/bin/sh
# Regenerates the fixtures written with the real sops CLI for age keys made
# for these tests (group1..3.agekey; made with filippo.io/age's
# GenerateX25519Identity). sops itself is not a dependency of gitsync:
#   GOBIN=/tmp/sopsbin go install github.com/getsops/sops/v3/cmd/sops@v3.13.3
#   PATH=/tmp/sopsbin:$PATH sh gen.sh
# Then check a fixture with: SOPS_AGE_KEY_FILE=group1.agekey sops decrypt app.enc.ini
set -eu
cd "$(dirname "$0")"
enc() { sops --config sops-fixtures.yaml encrypt --filename-override "$2" "plain/$1" > "$2"; }
enc app.ini app.enc.ini
enc groups.yaml groups2.enc.yaml
enc groups.yaml groups3.enc.yaml
enc groups.ini groups3.enc.ini
# What sops itself prints for the INI fixture: Decrypt must print the same.
SOPS_AGE_KEY_FILE=group1.agekey sops decrypt app.enc.ini > app.sops-decrypt.ini
