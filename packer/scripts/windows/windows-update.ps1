# Install every pending software update through the Windows Update Agent API (no extra module).
# Run twice with a restart in between: some updates are only offered after the first reboot.
# Environment: HPC_WINDOWS_UPDATE (true/false).
$ErrorActionPreference = 'Stop'

if ($env:HPC_WINDOWS_UPDATE -ne 'true') {
    Write-Output 'Windows Update skipped (windows_update = false).'
    exit 0
}

$session = New-Object -ComObject Microsoft.Update.Session
$searcher = $session.CreateUpdateSearcher()
$result = $searcher.Search("IsInstalled=0 and Type='Software' and IsHidden=0")
if ($result.Updates.Count -eq 0) {
    Write-Output 'No pending updates.'
    exit 0
}

$updates = New-Object -ComObject Microsoft.Update.UpdateColl
foreach ($update in $result.Updates) {
    if (-not $update.EulaAccepted) { $update.AcceptEula() }
    Write-Output "Queued: $($update.Title)"
    [void]$updates.Add($update)
}

$downloader = $session.CreateUpdateDownloader()
$downloader.Updates = $updates
[void]$downloader.Download()

$installer = $session.CreateUpdateInstaller()
$installer.Updates = $updates
$outcome = $installer.Install()
# ResultCode 2 = succeeded, 3 = succeeded with errors.
if ($outcome.ResultCode -notin 2, 3) { throw "Windows Update failed with result code $($outcome.ResultCode)" }
Write-Output "Installed $($updates.Count) updates (reboot required: $($outcome.RebootRequired))."
