-- hpcops.aws_hpc: disable (@disable = 1) or enable the sa login, found by its fixed sid 0x01 so a
-- renamed sa is handled too.
DECLARE @sql NVARCHAR(400);
SET @sql = N'ALTER LOGIN ' + QUOTENAME(SUSER_SNAME(0x01)) + CASE WHEN @disable = 1 THEN N' DISABLE' ELSE N' ENABLE' END;
EXEC sys.sp_executesql @sql;
