@echo off
rem Shell completion for "kubectl gitsync" on Windows: kubectl (1.26+) runs
rem kubectl_complete-gitsync from PATH; the plugin's own completion does the work.
kubectl-gitsync.exe __complete %*
