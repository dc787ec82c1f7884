// Fills in the placeholders of a realm file exactly as Keycloak does when it imports one at
// startup (`kc.sh start --import-realm` or `kc.sh import`): Keycloak's own
// StringPropertyReplacer over the file's bytes, with environment variables as the source
// (org.keycloak.exportimport.AbstractFileBasedImportProvider.parseFile in Keycloak 26).
// Run from tests/support/keycloak_admin.py with the keycloak-common jar of the test stack's
// Keycloak on the class path: `java -cp <jars> ResolveRealm.java <realm file>`.
import java.io.FileInputStream;
import java.io.InputStream;
import org.keycloak.common.util.StringPropertyReplacer;

public class ResolveRealm {
    public static void main(String[] args) throws Exception {
        try (InputStream in = StringPropertyReplacer.replaceProperties(
                new FileInputStream(args[0]), System::getenv)) {
            System.out.write(in.readAllBytes());
            System.out.flush();
        }
    }
}
