import type { WorldSpec } from './world-spec.js'

/**
 * The built-in demo world: one public-cloud tenant with every identity shape and both scale-set
 * orchestration modes (including a same-named scale set in a second resource group), plus a US Gov
 * and a China tenant. VM handles: `frontend/blog`, `frontend/api`, `frontend/worker`,
 * `frontend/multi`, `frontend/web/0`, `frontend/flex/0`, `backend/web/0`, `gov/gov-vm`, `cn/cn-vm`.
 */
export const DEFAULT_WORLD: WorldSpec = {
  seed: 'spire-azure-emulator-demo',
  tenants: [
    {
      name: 'contoso',
      domains: ['contoso.onmicrosoft.com', 'contoso.example'],
      cloud: 'public',
      apps: [{ name: 'spire-server', secret: 'spire-server-secret' }],
      subscriptions: [
        {
          name: 'prod',
          displayName: 'Contoso Production',
          resourceGroups: [
            {
              name: 'frontend',
              location: 'eastus',
              networkSecurityGroups: [{ name: 'webservers' }],
              virtualNetworks: [
                {
                  name: 'vnet',
                  addressPrefix: '10.1.0.0/16',
                  subnets: [
                    {
                      name: 'default',
                      addressPrefix: '10.1.0.0/20',
                      networkSecurityGroup: 'webservers',
                    },
                    { name: 'scale', addressPrefix: '10.1.16.0/20' },
                  ],
                },
              ],
              identities: [{ name: 'api-identity' }, { name: 'batch-identity' }],
              virtualMachines: [
                {
                  name: 'blog',
                  tags: { environment: 'production', team: 'web' },
                  identity: { systemAssigned: true },
                  networkInterfaces: [
                    {
                      virtualNetwork: 'vnet',
                      subnet: 'default',
                      networkSecurityGroup: 'webservers',
                    },
                  ],
                },
                { name: 'api', identity: { userAssigned: ['api-identity'] } },
                {
                  name: 'worker',
                  zone: '2',
                  identity: {
                    systemAssigned: true,
                    userAssigned: ['api-identity', 'batch-identity'],
                  },
                },
                { name: 'multi', identity: { userAssigned: ['api-identity', 'batch-identity'] } },
                { name: 'plain' },
              ],
              scaleSets: [
                {
                  name: 'web',
                  orchestrationMode: 'Uniform',
                  capacity: 3,
                  tags: { tier: 'web' },
                  identity: { systemAssigned: true },
                  network: {
                    virtualNetwork: 'vnet',
                    subnet: 'scale',
                    networkSecurityGroup: 'webservers',
                  },
                },
                {
                  name: 'flex',
                  orchestrationMode: 'Flexible',
                  capacity: 3,
                  zones: ['1', '2', '3'],
                  identity: { systemAssigned: true },
                  network: { virtualNetwork: 'vnet', subnet: 'scale' },
                },
              ],
            },
            {
              name: 'backend',
              location: 'westus2',
              virtualNetworks: [{ name: 'backend-vnet', addressPrefix: '10.2.0.0/16' }],
              scaleSets: [
                {
                  name: 'web',
                  orchestrationMode: 'Uniform',
                  capacity: 2,
                  identity: { systemAssigned: true },
                },
              ],
            },
          ],
        },
      ],
    },
    {
      name: 'fabrikam-gov',
      domains: ['fabrikam.onmicrosoft.us'],
      cloud: 'usgov',
      apps: [{ name: 'spire-server', secret: 'gov-secret' }],
      subscriptions: [
        {
          name: 'gov',
          resourceGroups: [
            {
              name: 'gov',
              location: 'usgovvirginia',
              virtualMachines: [{ name: 'gov-vm', identity: { systemAssigned: true } }],
            },
          ],
        },
      ],
    },
    {
      name: 'contoso-cn',
      domains: ['contoso.partner.onmschina.cn'],
      cloud: 'china',
      apps: [{ name: 'spire-server', secret: 'cn-secret' }],
      subscriptions: [
        {
          name: 'cn',
          resourceGroups: [
            {
              name: 'cn',
              location: 'chinaeast2',
              virtualMachines: [{ name: 'cn-vm', identity: { systemAssigned: true } }],
            },
          ],
        },
      ],
    },
  ],
}
