# hpcops.aws_hpc: helpers shared by every script (composed after _header.ps1).
$ProgressPreference = 'SilentlyContinue'

$Params = ConvertFrom-Json -InputObject $ParamsJson
$Secrets = @{}
if ($SecretsJson) {
    $decoded = ConvertFrom-Json -InputObject ([System.Net.NetworkCredential]::new('', $SecretsJson).Password)
    foreach ($property in $decoded.PSObject.Properties) {
        $Secrets[$property.Name] = [string]$property.Value
    }
    Remove-Variable -Name decoded
}
$Result = [ordered]@{ changed = $false; done = [System.Collections.Generic.List[string]]::new() }

function Get-HpcSecret {
    param ([Parameter(Mandatory = $true)][string]$Name)
    if (-not $Secrets.ContainsKey($Name)) {
        throw ('secret {0} was not passed to this script' -f $Name)
    }
    $Secrets[$Name]
}

function Get-HpcSecureSecret {
    param ([Parameter(Mandatory = $true)][string]$Name)
    ConvertTo-SecureString -String (Get-HpcSecret -Name $Name) -AsPlainText -Force
}

function Assert-HpcApply {
    # Apply scripts change the host: never under -WhatIf (check mode).
    if ($WhatIfPreference) {
        throw 'an apply script was started in check mode; refusing to change anything'
    }
}

function Stop-HpcStep {
    # Fail with a message that names the step, the object and the cause.
    param ([string]$Step, [string]$Object, [object]$Cause)
    $text = if ($Cause -is [System.Management.Automation.ErrorRecord]) { $Cause.Exception.Message } else { [string]$Cause }
    throw [System.InvalidOperationException]::new(('Failed to {0} {1}: {2}' -f $Step, $Object, $text))
}

function Add-HpcDone {
    param ([string]$Step, [string]$Object)
    $Result.changed = $true
    $Result.done.Add(('{0} {1}' -f $Step, $Object))
}

function ConvertTo-HpcArgument {
    # Quote one command-line value following the CommandLineToArgvW rules setup.exe parses with.
    param ([AllowEmptyString()][string]$Value)
    if ($Value -notmatch '[\s"]' -and $Value.Length -gt 0) {
        return $Value
    }
    $escaped = [regex]::Replace($Value, '(\\*)"', '$1$1\"')
    $escaped = [regex]::Replace($escaped, '(\\+)$', '$1$1')
    '"' + $escaped + '"'
}

function Invoke-HpcSetup {
    # Run HPC Pack setup.exe and report its exit code and the newest setup log it wrote.
    param ([string]$SetupPath, [string[]]$Arguments, [int]$TimeoutSeconds)
    $started = Get-Date
    $info = [System.Diagnostics.ProcessStartInfo]::new($SetupPath, ($Arguments -join ' '))
    $info.UseShellExecute = $false
    $info.CreateNoWindow = $true
    $process = [System.Diagnostics.Process]::Start($info)
    if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
        throw ('setup.exe did not finish within {0} seconds' -f $TimeoutSeconds)
    }
    $log = Get-ChildItem -LiteralPath (Join-Path -Path $env:windir -ChildPath 'Temp') -Recurse -File -ErrorAction SilentlyContinue |
        Where-Object { $_.LastWriteTime -ge $started -and $_.FullName -match 'hpc' -and $_.Extension -in '.log', '.txt' } |
        Sort-Object -Property LastWriteTime -Descending | Select-Object -First 1
    [ordered]@{
        ExitCode = $process.ExitCode
        LogPath = if ($log) { $log.FullName } else { Join-Path -Path $env:windir -ChildPath 'Temp' }
    }
}

function Import-HpcPowerShell {
    # The HPC cmdlets are loaded the documented way, as the Microsoft.HPC snap-in: HPC Pack's cmdlet
    # reference notes every cmdlet under the "HPC" module of CCPPSH.dll (MicrosoftDocs/windows-powershell-docs,
    # docset/winserver2012r2-ps/hpc/Set-HpcNode.md: "external help file: CCPPSH.dll-Help.xml"), and both the
    # reference deployment (arjanvanbekkum/HPC install_hpc_headnode.ps1, configure_hpc_computenode.ps1) and
    # Microsoft's CycleCloud HPC Pack cookbooks (Azure/cyclecloud-hpcpack, recipes/cn.rb, bn.rb; HPC Pack
    # 2016 and 2019) run "Add-PSSnapin Microsoft.HPC". No module named Microsoft.Hpc is documented.
    if (Get-Command -Name Get-HpcNode -ErrorAction SilentlyContinue) {
        return
    }
    try {
        Add-PSSnapin -Name Microsoft.HPC
    }
    catch {
        throw ('the HPC Pack PowerShell snap-in Microsoft.HPC could not be loaded (is HPC Pack installed on {0}?): {1}' -f $env:COMPUTERNAME, $_.Exception.Message)
    }
}

function Get-HpcSchedulerName {
    # The head node every HPC cmdlet is pointed at with -Scheduler: CCP_SCHEDULER may be missing from a
    # WinRM process started right after setup (HPC Pack's cmdlet reference, e.g. Get-HpcNode.md: "If you
    # do not specify the Scheduler parameter, this cmdlet uses the scheduler on the head node that the
    # CCP_SCHEDULER environment variable specifies"). On the head node itself it is this computer, as
    # Microsoft's MSFT_xHpcWaitForCluster passes ConnectionString = $env:COMPUTERNAME.
    if ($Params.scheduler) {
        return [string]$Params.scheduler
    }
    $env:COMPUTERNAME
}

function Invoke-HpcRetry {
    # Run $Action until it succeeds: the cluster "is not ready yet" for a while after setup. Microsoft's own
    # DSC resources retry the same way (Azure/hpcpack-template, SharedResources/Src/InstallPrimaryHeadNode/
    # xHpcPack/DSCResources): MSFT_xHpcWaitForCluster 30 retries 20 s apart, MSFT_xHpcClusterInit
    # Set-HpcNetwork 20 and Set-HpcClusterProperty 30 retries, waiting [Math]::Ceiling($retry/10) * 10 s.
    # The counts and delays arrive as data ($Retry = @{ retries; delay_seconds; increase_every }) from
    # plugins/module_utils/_hpcpack_cluster.py (RETRY_DEFAULTS), never as text in this script.
    param (
        [Parameter(Mandatory = $true)][scriptblock]$Action,
        [Parameter(Mandatory = $true)][string]$What,
        [object]$Retry
    )
    $retries = if ($Retry -and $null -ne $Retry.retries) { [int]$Retry.retries } else { 0 }
    $delay = if ($Retry -and $null -ne $Retry.delay_seconds) { [int]$Retry.delay_seconds } else { 10 }
    $every = if ($Retry -and $null -ne $Retry.increase_every) { [int]$Retry.increase_every } else { 0 }
    $attempt = 0
    while ($true) {
        try {
            return (& $Action)
        }
        catch [System.Management.Automation.ParameterBindingException] {
            # A call the cmdlet refuses is refused again on every retry: fail at once.
            throw
        }
        catch {
            $attempt++
            if ($attempt -gt $retries) {
                throw ('{0} still failed after {1} attempt(s): {2}' -f $What, $attempt, $_.Exception.Message)
            }
            $wait = if ($every -gt 0) { $delay * [Math]::Ceiling($attempt / $every) } else { $delay }
            Start-Sleep -Seconds $wait
        }
    }
}

function Get-HpcFileInfo {
    param ([string]$Path)
    $exists = Test-Path -LiteralPath $Path -PathType Leaf
    [ordered]@{
        Exists = $exists
        Sha256 = if ($exists) { (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash } else { $null }
    }
}

function Get-HpcPfxInfo {
    # What a PFX file holds, opened with its password (the password never leaves the host).
    param ([string]$Path, [string]$Password)
    $info = Get-HpcFileInfo -Path $Path
    $info.PasswordValid = $false
    $info.HasPrivateKey = $false
    $info.Subject = $null
    $info.Thumbprint = $null
    $info.DaysLeft = 0
    if ($info.Exists) {
        try {
            $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::DefaultKeySet
            $cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($Path, $Password, $flags)
            $info.PasswordValid = $true
            $info.HasPrivateKey = $cert.HasPrivateKey
            $info.Subject = $cert.Subject
            $info.Thumbprint = $cert.Thumbprint
            $info.DaysLeft = [int][math]::Floor(($cert.NotAfter - (Get-Date)).TotalDays)
            $cert.Reset()
        }
        catch [System.Security.Cryptography.CryptographicException] {
            $info.PasswordValid = $false
        }
    }
    $info
}

function Invoke-HpcSql {
    # Run one T-SQL batch with SqlClient parameters (values are data, never part of the text).
    param (
        [string]$Server,
        [string]$Database = 'master',
        [string]$Sql,
        [hashtable]$Parameters = @{},
        [int]$Timeout = 600
    )
    $builder = [System.Data.SqlClient.SqlConnectionStringBuilder]::new()
    $builder['Data Source'] = $Server
    $builder['Initial Catalog'] = $Database
    $builder['Integrated Security'] = $true
    $builder['Application Name'] = 'hpcops.aws_hpc'
    $connection = [System.Data.SqlClient.SqlConnection]::new($builder.ConnectionString)
    try {
        $connection.Open()
        $command = $connection.CreateCommand()
        $command.CommandText = $Sql
        $command.CommandTimeout = $Timeout
        foreach ($key in $Parameters.Keys) {
            $value = $Parameters[$key]
            if ($null -eq $value) {
                $value = [System.DBNull]::Value
            }
            [void]$command.Parameters.AddWithValue('@' + $key, $value)
        }
        $table = [System.Data.DataTable]::new()
        $reader = $command.ExecuteReader()
        $table.Load($reader)
        $rows = [System.Collections.Generic.List[object]]::new()
        foreach ($row in $table.Rows) {
            $record = [ordered]@{}
            foreach ($column in $table.Columns) {
                $value = $row[$column]
                if ($value -is [System.DBNull]) {
                    $value = $null
                }
                $record[$column.ColumnName] = $value
            }
            $rows.Add([pscustomobject]$record)
        }
        $array = $rows.ToArray()
        Write-Output -InputObject $array -NoEnumerate
    }
    finally {
        $connection.Dispose()
    }
}

function Get-HpcIdentity {
    # Who runs this script (the task's become user, else the connection user). Setup must run as a domain
    # account with an elevated administrator token, and Set-HpcJobCredential stores the credential in the cache
    # of the user who runs it (Set-HpcJobCredential.md), so the planners check this account.
    # WindowsIdentity.GetCurrent and WindowsPrincipal.IsInRole(WindowsBuiltInRole.Administrator) are .NET's
    # documented way to ask.
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = [System.Security.Principal.WindowsPrincipal]::new($identity)
    return [ordered]@{
        Name = $identity.Name
        IsSystem = $identity.IsSystem
        IsAdministrator = $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
        ComputerName = $env:COMPUTERNAME
    }
}
