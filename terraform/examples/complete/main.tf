# Both clouds in one apply: the pipeline on AWS, the schedules on Azure Logic Apps.
# The trigger URL and secret flow from AWS to Azure; in source_ip mode the Logic Apps'
# outbound addresses flow back into the trigger bucket's policy.

provider "aws" {
  region = var.aws_region
}

provider "azurerm" {
  features {}
  subscription_id = var.azure_subscription_id
}

module "cronbridge" {
  source = "../../modules/aws"

  prefix             = var.prefix
  auth_mode          = var.auth_mode
  allowed_source_ips = var.auth_mode == "source_ip" ? module.schedules.outbound_ip_addresses : []
  workers            = var.workers
  alarm_actions      = var.alarm_actions
  alert_email        = var.alert_email
}

module "schedules" {
  source = "../../modules/azure_trigger"

  name_prefix         = var.prefix # Logic Apps <prefix>-<group>: another deployment may share the resource group
  location            = var.azure_location
  resource_group_name = var.azure_resource_group
  trigger_url         = module.cronbridge.trigger_url
  user_agent_secret   = module.cronbridge.user_agent_secret
  groups              = var.groups
}
