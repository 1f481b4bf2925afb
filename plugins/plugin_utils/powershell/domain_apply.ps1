# win_hpc_domain_membership apply: join the domain (the reboot is left to the role, which runs
# ansible.windows.win_reboot when reboot_required is returned) and put the instance's computer account
# in the local Administrators group (seed 000's cfn-init step 00-add-adminuser).
function Invoke-HpcScript {
    Assert-HpcApply
    $Result.reboot_required = $false
    foreach ($change in @($Params.changes)) {
        $object = $change.object
        switch ($change.step) {
            'domain_join' {
                try {
                    $credential = [System.Management.Automation.PSCredential]::new($Params.username, (Get-HpcSecureSecret -Name 'password'))
                    $settings = @{ DomainName = $object; Credential = $credential; Force = $true }
                    if ($change.ou_path) {
                        $settings.OUPath = $change.ou_path
                    }
                    Add-Computer @settings
                    $Result.reboot_required = $true
                }
                catch {
                    Stop-HpcStep -Step ('join {0} to the domain' -f $env:COMPUTERNAME) -Object $object -Cause $_
                }
            }
            'local_admin' {
                try {
                    Add-LocalGroupMember -Group 'Administrators' -Member $object
                }
                catch {
                    Stop-HpcStep -Step 'add to the local Administrators group' -Object $object -Cause $_
                }
            }
        }
        Add-HpcDone -Step $change.step -Object $object
    }
}
