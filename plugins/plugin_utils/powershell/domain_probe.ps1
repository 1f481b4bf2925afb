# win_hpc_domain_membership probe (read-only): domain membership, a join waiting for its reboot,
# and the members of the local Administrators group.
function Invoke-HpcScript {
    $system = Get-CimInstance -ClassName Win32_ComputerSystem
    $Result.ComputerName = $env:COMPUTERNAME
    $Result.PartOfDomain = [bool]$system.PartOfDomain
    $Result.Domain = $system.Domain
    $netlogon = Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Services\Netlogon\Parameters' -ErrorAction SilentlyContinue
    $Result.PendingJoin = [bool]($netlogon -and -not $system.PartOfDomain -and $netlogon.PSObject.Properties['DomainName'] -and
        [string]$netlogon.DomainName -eq [string]$Params.domain)
    $group = [ADSI]'WinNT://./Administrators,group'
    $Result.Administrators = @(foreach ($member in @($group.Invoke('Members'))) {
            $path = ([ADSI]$member).Path
            # WinNT://DOMAIN/NAME or WinNT://DOMAIN/COMPUTER/NAME -> DOMAIN\NAME
            $parts = $path.Substring(8).Split('/')
            '{0}\{1}' -f $parts[0], $parts[-1]
        })
}
