# win_hpc_computenode apply: copy the certificates from the head node's install share, trust the
# head node's public certificate, install HPC Pack as a compute node of the head node, assign the node
# template to the Unapproved node and bring it Online; or (state=absent) drain the node (running
# tasks finish, up to a timeout), take it offline and remove it from the cluster.
function Wait-HpcNode {
    param ([scriptblock]$Until, [int]$TimeoutSeconds, [string]$What)
    $deadline = (Get-Date).AddSeconds($TimeoutSeconds)
    while ($true) {
        $node = Get-HpcNode -Name $env:COMPUTERNAME -Scheduler $Params.headnode -ErrorAction SilentlyContinue
        if ($node -and (& $Until $node)) {
            return $node
        }
        if ((Get-Date) -gt $deadline) {
            throw ('{0} did not happen within {1} seconds' -f $What, $TimeoutSeconds)
        }
        Start-Sleep -Seconds 10
    }
}

function Invoke-HpcScript {
    Assert-HpcApply
    foreach ($change in @($Params.changes)) {
        $object = $change.object
        switch ($change.step) {
            'certificate_copy' {
                try {
                    New-Item -ItemType Directory -Path $Params.certificate_dir -Force | Out-Null
                    Copy-Item -LiteralPath (Join-Path -Path $Params.share -ChildPath $object) -Destination $Params.certificate_dir -Force
                }
                catch {
                    Stop-HpcStep -Step ('copy {0} from' -f $object) -Object $Params.share -Cause $_
                }
            }
            'root_certificate' {
                try {
                    Import-Certificate -FilePath (Join-Path -Path $Params.certificate_dir -ChildPath $object) `
                        -CertStoreLocation 'Cert:\LocalMachine\Root' | Out-Null
                }
                catch {
                    Stop-HpcStep -Step 'import into Cert:\LocalMachine\Root the certificate' -Object $object -Cause $_
                }
            }
            'install' {
                # Setup takes the certificate by thumbprint from Cert:\LocalMachine\My, as Microsoft's compute node
                # script does: Azure/cyclecloud-hpcpack specs/default/chef/site-cookbooks/hpcpack/files/
                # InstallHPCComputeNode.ps1 @ 6e8693a6352b308e3b8eeff3a28dcfb941d6f7b6 imports the PFX with
                # Import-PfxCertificate -CertStoreLocation Cert:\LocalMachine\My and passes
                # "-unattend -Quiet -ComputeNode:<head node> -SSLThumbprint:<thumbprint>".
                $pfx = Join-Path -Path $Params.certificate_dir -ChildPath $Params.pfx_file
                try {
                    $settings = @{
                        FilePath = $pfx
                        Password = Get-HpcSecureSecret -Name 'pfx_password'
                        CertStoreLocation = 'Cert:\LocalMachine\My'
                    }
                    $imported = @(Import-PfxCertificate @settings | Where-Object { $_.HasPrivateKey })
                    if ($imported.Count -eq 0) {
                        throw 'the PFX holds no certificate with a private key'
                    }
                }
                catch {
                    Stop-HpcStep -Step 'import into Cert:\LocalMachine\My the certificate' -Object $pfx -Cause $_
                }
                $arguments = @(
                    '-unattend',
                    ('-ComputeNode:' + (ConvertTo-HpcArgument -Value $Params.headnode)),
                    ('-SSLThumbprint:' + (ConvertTo-HpcArgument -Value $imported[0].Thumbprint))
                )
                try {
                    $outcome = Invoke-HpcSetup -SetupPath $change.setup_path -Arguments $arguments -TimeoutSeconds $Params.setup_timeout
                }
                catch {
                    Stop-HpcStep -Step 'run HPC Pack compute node setup' -Object $change.setup_path -Cause $_
                }
                $Result.install = $outcome
                if ($outcome.ExitCode -ne 0 -and $outcome.ExitCode -ne 3010) {
                    $Result.changed = $true
                    return
                }
                if ($outcome.ExitCode -eq 3010) {
                    # The node registers with the head node after the reboot; the role reboots and runs again.
                    Add-HpcDone -Step 'install' -Object $object
                    return
                }
            }
            'node_template' {
                try {
                    Import-HpcPowerShell
                    $node = Wait-HpcNode -TimeoutSeconds $Params.register_timeout -What ('registration of {0} with {1}' -f $object, $Params.headnode) -Until { param($n) $true }
                    Assign-HpcNodeTemplate -Name $change.template -Node $node -Scheduler $Params.headnode -Confirm:$false | Out-Null
                }
                catch {
                    Stop-HpcStep -Step ('assign node template "{0}" to' -f $change.template) -Object $object -Cause $_
                }
            }
            'node_state' {
                try {
                    Import-HpcPowerShell
                    Wait-HpcNode -TimeoutSeconds $Params.register_timeout -What ('{0} leaving provisioning' -f $object) -Until {
                        param($n) [string]$n.NodeState -in 'Offline', 'Online' } | Out-Null
                    Set-HpcNodeState -Name $object -State Online -Scheduler $Params.headnode | Out-Null
                }
                catch {
                    Stop-HpcStep -Step 'bring online node' -Object $object -Cause $_
                }
            }
            'node' {
                try {
                    Import-HpcPowerShell
                    # Without -Force the node drains: running tasks finish before it goes offline.
                    Set-HpcNodeState -Name $object -State Offline -Scheduler $Params.headnode | Out-Null
                    try {
                        Wait-HpcNode -TimeoutSeconds $change.drain_timeout -What ('draining of {0}' -f $object) -Until {
                            param($n) [string]$n.NodeState -eq 'Offline' } | Out-Null
                    }
                    catch {
                        if (-not $change.force_after_timeout) {
                            throw
                        }
                        Set-HpcNodeState -Name $object -State Offline -Force -Scheduler $Params.headnode | Out-Null
                        $Result.forced = $true
                    }
                    Remove-HpcNode -Name $object -Scheduler $Params.headnode -Confirm:$false | Out-Null
                }
                catch {
                    Stop-HpcStep -Step 'drain and remove node' -Object $object -Cause $_
                }
            }
        }
        Add-HpcDone -Step $change.step -Object $object
    }
}
