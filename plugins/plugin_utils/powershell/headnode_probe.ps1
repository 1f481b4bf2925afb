# win_hpc_headnode probe (read-only): the communication certificate (PFX file opened with its
# password, the certificate store, and whether the PFX's certificate is in LocalMachine\My), whether HPC Pack is installed (the HpcScheduler service, as
# seed 000 checks), whether setup.exe is there and its file version, the copy of the PFX on the install
# share, and the account this script runs as (setup must run as a domain user with local admin rights).
function Invoke-HpcScript {
    # Who runs this script: see Get-HpcIdentity in _common.ps1.
    $Result.identity = Get-HpcIdentity
    $password = Get-HpcSecret -Name 'certificate_password'
    $certificate = [ordered]@{ pfx = (Get-HpcPfxInfo -Path $Params.certificate.pfx_path -Password $password) }
    if ($Params.certificate.source -eq 'pfx') {
        $certificate.source_pfx = Get-HpcPfxInfo -Path $Params.certificate.src -Password $password
    }
    if ($Params.certificate.source -eq 'thumbprint') {
        $stored = Get-Item -LiteralPath ('Cert:\LocalMachine\My\{0}' -f $Params.certificate.thumbprint) -ErrorAction SilentlyContinue
        $certificate.store = [ordered]@{
            Found = [bool]$stored
            HasPrivateKey = [bool]($stored -and $stored.HasPrivateKey)
            Exportable = [bool]($stored -and $stored.HasPrivateKey)
            Subject = if ($stored) { $stored.Subject } else { $null }
        }
    }
    # Setup takes the certificate by thumbprint from Cert:\LocalMachine\My (-SSLThumbprint, as Microsoft's
    # MSFT_xHpcHeadNodeInstall.psm1 and InstallHPCHeadNode.ps1 do): is the PFX's certificate there with its key?
    $inStore = $null
    if ($certificate.pfx.Thumbprint) {
        $inStore = Get-Item -LiteralPath ('Cert:\LocalMachine\My\{0}' -f $certificate.pfx.Thumbprint) -ErrorAction SilentlyContinue
    }
    $certificate.in_my_store = [ordered]@{ Found = [bool]$inStore; HasPrivateKey = [bool]($inStore -and $inStore.HasPrivateKey) }
    $Result.certificate = $certificate
    $service = Get-Service -Name HpcScheduler -ErrorAction SilentlyContinue
    $Result.service = if ($service) { [ordered]@{ Name = $service.Name; Status = [string]$service.Status } } else { $null }
    $Result.setup_exists = Test-Path -LiteralPath $Params.setup_path -PathType Leaf
    if ($Result.setup_exists) {
        # HPC Pack 2016 is setup 5.x, 2019 is 6.x: Microsoft's InstallHPCHeadNode.ps1 (Azure/cyclecloud-hpcpack)
        # reads [System.Diagnostics.FileVersionInfo]::GetVersionInfo($SetupFilePath).FileMajorPart the same way.
        $fileVersion = [System.Diagnostics.FileVersionInfo]::GetVersionInfo($Params.setup_path)
        $Result.setup_version = [ordered]@{ FileMajorPart = $fileVersion.FileMajorPart; FileVersion = $fileVersion.FileVersion }
    }
    if ($Params.publish_path) {
        $Result.publish = Get-HpcFileInfo -Path $Params.publish_path
    }
}
