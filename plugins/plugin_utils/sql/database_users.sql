-- hpcops.aws_hpc win_hpc_sqlserver probe: whether @user_name is a user of the current database.
SELECT dp.name
FROM sys.database_principals AS dp
WHERE dp.name = @user_name;
