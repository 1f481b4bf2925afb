# win_hpc_headnode apply: certificate (self-signed like HPC Pack's CreateCertificate.ps1, exported
# from a CA-issued one in the store, or copied from a CA-issued PFX), HPC Pack head node unattended
# setup with the version's connection strings (five for HPC Pack 2016; seven for 2019, which adds
# -HAStorageDbConStr and -HAWitnessDbConStr as Microsoft's InstallHPCHeadNode.ps1 does for setup major
# version 6 - the list arrives as data from _hpcpack_headnode.connection_string_switches), and the PFX published to
# the install share. Setup takes the certificate by thumbprint from Cert:\LocalMachine\My
# (-SSLThumbprint:<thumbprint>), as Microsoft's scripts do: Azure/cyclecloud-hpcpack
# specs/default/chef/site-cookbooks/hpcpack/files/InstallHPCHeadNode.ps1 @ 0d56be5b7cc1771931dfc108f7007f4ffa0b407d
# (Import-PfxCertificate -CertStoreLocation Cert:\LocalMachine\My -Exportable, then -SSLThumbprint:$SSLThumbprint) and
# Azure/hpcpack-template SharedResources/Src/InstallPrimaryHeadNode/xHpcPack/DSCResources/MSFT_xHpcHeadNodeInstall/
# MSFT_xHpcHeadNodeInstall.psm1 @ 0e5bb8dc5071011d2b1182cd52229b526bc2bb73.
function New-HpcConnectionString {
    param ([string]$Catalog)
    $builder = [System.Data.SqlClient.SqlConnectionStringBuilder]::new()
    $builder['Data Source'] = $Params.install.sql_server
    $builder['Initial Catalog'] = $Catalog
    $builder['Integrated Security'] = $false
    $builder['User ID'] = $Params.install.sql_username
    $builder['Password'] = Get-HpcSecret -Name 'sql_password'
    foreach ($option in @($Params.install.connection_options.PSObject.Properties)) {
        $builder[$option.Name] = $option.Value
    }
    $builder.ConnectionString
}

function Invoke-HpcScript {
    Assert-HpcApply
    $pfxPath = $Params.certificate.pfx_path
    # The certificate setup gets: known to the plan, or the one this run makes or imports.
    $thumbprint = $null
    foreach ($change in @($Params.changes)) {
        switch ($change.step) {
            'certificate' {
                try {
                    $secure = Get-HpcSecureSecret -Name 'certificate_password'
                    New-Item -ItemType Directory -Path (Split-Path -Path $pfxPath -Parent) -Force | Out-Null
                    switch ($change.action) {
                        'create_self_signed' {
                            # What HPC Pack's CreateCertificate.ps1 makes: RSA 2048, SHA256, exportable key,
                            # digital signature + key encipherment, server and client authentication.
                            $settings = @{
                                Subject = 'CN={0}' -f $change.common_name
                                CertStoreLocation = 'Cert:\LocalMachine\My'
                                KeyExportPolicy = 'Exportable'
                                KeySpec = 'KeyExchange'
                                KeyLength = 2048
                                HashAlgorithm = 'SHA256'
                                KeyUsage = @('DigitalSignature', 'KeyEncipherment')
                                TextExtension = @('2.5.29.37={text}1.3.6.1.5.5.7.3.1,1.3.6.1.5.5.7.3.2')
                                NotAfter = (Get-Date).AddYears([int]$change.valid_years)
                            }
                            $cert = New-SelfSignedCertificate @settings
                            $thumbprint = $cert.Thumbprint
                            Export-PfxCertificate -Cert $cert -FilePath $pfxPath -Password $secure -Force | Out-Null
                        }
                        'export' {
                            $cert = Get-Item -LiteralPath ('Cert:\LocalMachine\My\{0}' -f $change.thumbprint)
                            $thumbprint = $cert.Thumbprint
                            Export-PfxCertificate -Cert $cert -FilePath $pfxPath -Password $secure -Force | Out-Null
                        }
                        'copy' {
                            Copy-Item -LiteralPath $change.src -Destination $pfxPath -Force
                        }
                    }
                }
                catch {
                    Stop-HpcStep -Step ('{0} the communication certificate' -f $change.action) -Object $pfxPath -Cause $_
                }
            }
            'certificate_store' {
                try {
                    $settings = @{
                        FilePath = $pfxPath
                        Password = Get-HpcSecureSecret -Name 'certificate_password'
                        CertStoreLocation = 'Cert:\LocalMachine\My'
                        Exportable = $true
                    }
                    $imported = @(Import-PfxCertificate @settings | Where-Object { $_.HasPrivateKey })
                    if ($imported.Count -eq 0) {
                        throw 'the PFX holds no certificate with a private key'
                    }
                    $thumbprint = $imported[0].Thumbprint
                }
                catch {
                    Stop-HpcStep -Step 'import into Cert:\LocalMachine\My the certificate' -Object $pfxPath -Cause $_
                }
            }
            'install' {
                if (-not $thumbprint) {
                    $thumbprint = $change.ssl_thumbprint
                }
                $stored = 'Cert:\LocalMachine\My\{0}' -f $thumbprint
                if (-not $thumbprint -or -not (Test-Path -LiteralPath $stored)) {
                    # What MSFT_xHpcHeadNodeInstall.psm1 checks before it runs setup.
                    Stop-HpcStep -Step 'run HPC Pack head node setup with the certificate' -Object $stored -Cause ('it is not in the store; the PFX is {0}' -f $pfxPath)
                }
                $arguments = [System.Collections.Generic.List[string]]::new()
                $arguments.Add('-unattend')
                $arguments.Add('-HeadNode')
                if ($Params.install.skip_component) {
                    # Spelled as HPC Pack 2016 Update 3 introduced it ("-SkipComponent:rras,dhcp,wds", Azure/hpcpack
                    # CHANGELOG.md) and as the reference deployment (arjanvanbekkum/HPC install_hpc_headnode.ps1) and
                    # Microsoft's MSFT_xHpcNodeInstall (Azure/hpcpack-template) pass it; the value is built and
                    # validated on the controller (setup_skip_component in plugins/module_utils/_hpcpack_headnode.py).
                    $arguments.Add('-SkipComponent:' + (ConvertTo-HpcArgument -Value $Params.install.skip_component))
                }
                $arguments.Add('-ClusterName:' + (ConvertTo-HpcArgument -Value $Params.install.cluster_name))
                $arguments.Add('-SSLThumbprint:' + (ConvertTo-HpcArgument -Value $thumbprint))
                foreach ($switch in @($Params.install.switches)) {
                    $arguments.Add(('-{0}:' -f $switch.name) + (ConvertTo-HpcArgument -Value (New-HpcConnectionString -Catalog $switch.catalog)))
                }
                try {
                    $outcome = Invoke-HpcSetup -SetupPath $change.setup_path -Arguments $arguments -TimeoutSeconds $Params.install.setup_timeout
                }
                catch {
                    Stop-HpcStep -Step 'run HPC Pack head node setup' -Object $change.setup_path -Cause $_
                }
                $Result.install = $outcome
                if ($outcome.ExitCode -ne 0 -and $outcome.ExitCode -ne 3010) {
                    # The controller turns the exit code into the error message (with the log path).
                    $Result.changed = $true
                    return
                }
            }
            'publish' {
                try {
                    Copy-Item -LiteralPath $change.src -Destination $change.object -Force
                }
                catch {
                    Stop-HpcStep -Step 'publish the certificate to the install share as' -Object $change.object -Cause $_
                }
            }
        }
        Add-HpcDone -Step $change.step -Object $change.object
    }
}
