# win_hpc_headnode probe (read-only): the communication certificate (PFX file opened with its
# password, or the certificate store), whether HPC Pack is installed (the HpcScheduler service, as
# seed 000 checks), whether setup.exe is there, and the copy of the PFX on the install share.
function Invoke-HpcScript {
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
    $Result.certificate = $certificate
    $service = Get-Service -Name HpcScheduler -ErrorAction SilentlyContinue
    $Result.service = if ($service) { [ordered]@{ Name = $service.Name; Status = [string]$service.Status } } else { $null }
    $Result.setup_exists = Test-Path -LiteralPath $Params.setup_path -PathType Leaf
    if ($Params.publish_path) {
        $Result.publish = Get-HpcFileInfo -Path $Params.publish_path
    }
}
