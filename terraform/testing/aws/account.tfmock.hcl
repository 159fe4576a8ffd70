# The account the tests' mock aws provider stands for: the ARNs the modules build from
# these values are what the assertions spell out.

mock_data "aws_caller_identity" {
  defaults = { account_id = "123456789012" }
}

mock_data "aws_partition" {
  defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
}
